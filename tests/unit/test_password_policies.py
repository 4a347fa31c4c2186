"""The pure parts of the password policies: the common-passwords dictionary and the personal-data
check (Appwrite's PasswordDictionary and PersonalData validators)."""

from __future__ import annotations

import pytest

from nib.tools import validators as v


def test_dictionary_is_the_10k_list():
    common = v._common_passwords()
    assert len(common) == 10000
    assert {"password", "12345678", "iloveyou", "baseball", "trustno1"} <= common
    assert v.common_password("password") and not v.common_password("Password")


@pytest.mark.parametrize("dictionary", [False, True])
def test_new_password_refuses_common_ones_only_with_the_dictionary(dictionary):
    assert v.new_password("not-so-common-9", dictionary) == "not-so-common-9"
    if dictionary:
        with pytest.raises(v.Invalid) as refused:
            v.new_password("football", dictionary)
        assert str(refused.value) == v.NEW_PASSWORD_DESCRIPTION
    else:
        assert v.new_password("football", dictionary) == "football"
    assert v.new_password_or_empty("", dictionary) == ""
    with pytest.raises(v.Invalid):
        v.new_password("short", dictionary)


@pytest.mark.parametrize(
    ("password", "found"),
    [
        ("xxUSER42xx", True),  # the ID, any case
        ("my ADA@example.com!", True),  # the e-mail
        ("hello-ada-hello", True),  # its local part
        ("i-am-lovelace", True),  # the name
        ("call15551234567", True),  # the phone without its +
        ("call+15551234567", True),
        ("nothing-to-see", False),
    ],
)
def test_personal_data(password, found):
    fields = {"user_id": "user42", "email": "ada@example.com", "name": "Lovelace", "phone": "+15551234567"}
    assert v.has_personal_data(password, **fields) is found


def test_personal_data_ignores_missing_fields():
    assert not v.has_personal_data("anything-at-all", user_id="u1x", email=None, name="", phone=None)
