"""tools/sealing.py: values encrypted at rest open only with the same secret and purpose."""

from __future__ import annotations

import pytest

from nib.tools.sealing import SealError, seal, unseal


def test_a_sealed_value_opens_with_its_secret_and_purpose_only():
    sealed = seal("s3cret", "oauth2.token", "gho_abc123")
    assert sealed.startswith("v1.") and "gho_abc123" not in sealed
    assert unseal("s3cret", "oauth2.token", sealed) == "gho_abc123"
    assert seal("s3cret", "oauth2.token", "gho_abc123") != sealed  # a fresh nonce each time
    with pytest.raises(SealError):
        unseal("other", "oauth2.token", sealed)
    with pytest.raises(SealError):
        unseal("s3cret", "provider.secret", sealed)
    with pytest.raises(SealError):
        unseal("s3cret", "oauth2.token", "gho_abc123")  # a plain value is not accepted as sealed
    with pytest.raises(SealError):
        unseal("s3cret", "oauth2.token", sealed[:-4])


def test_empty_stays_empty():
    assert seal("s", "p", "") == ""
    assert unseal("s", "p", "") == ""
