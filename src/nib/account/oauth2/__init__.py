"""OAuth2 / OpenID Connect sign-in: the browser flow, identities and provider adapters."""
