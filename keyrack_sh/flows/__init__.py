"""Sign-in flows against IAM Identity Center: register, PKCE, device code, refresh, portal calls."""
