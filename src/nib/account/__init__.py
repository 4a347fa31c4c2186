"""The Account service: what a signed-in user (or a guest signing in) does with their own account."""
