from appwrite.id import ID
from appwrite.services.users import Users


def test_create_and_get_user_through_sdk(server):
    users = Users(server.sdk())
    created = users.create(ID.unique(), email="smoke@example.com", password="password123", name="Smoke")
    fetched = users.get(created.id)
    assert fetched.email == "smoke@example.com"
    assert fetched.name == "Smoke"
    assert fetched.hash == "argon2"
