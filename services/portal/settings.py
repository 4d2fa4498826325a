"""The portal's own settings (`GMPHUB_PORTAL_*`), beside the ones every part of the hub shares."""

from shared.settings import Settings


class PortalSettings(Settings):
    # Where the portal reaches each service's public API; unset means the development hub's port.
    portal_registry_url: str | None = None
    portal_materials_url: str | None = None
    portal_scheduling_url: str | None = None
    portal_approvals_url: str | None = None
    portal_service_timeout_seconds: float = 5.0  # a service slower than this shows as not answering
    # The address users open (https://… in production): the OIDC redirect and the cookie's Secure flag.
    portal_public_url: str | None = None
    # Signs the session cookie; development keeps a generated one under data_dir/keys.
    portal_session_secret: str | None = None
    portal_session_max_age_seconds: int = 12 * 3600
    # OpenID Connect (authorization code with PKCE); set the issuer to turn it on.
    portal_oidc_issuer: str | None = None
    portal_oidc_client_id: str = "gmp-hub-portal"
    portal_oidc_client_secret: str | None = None  # a public client (PKCE only) has none
    portal_oidc_scopes: str = "openid profile email"

    def api_url(self, service: str) -> str:
        configured: str | None = getattr(self, f"portal_{service}_url")
        return (configured or self.service_url(service)).rstrip("/")

    @property
    def portal_port(self) -> int:
        return self.port_base  # the services are base+1 … base+4

    @property
    def development_sign_in(self) -> bool:
        """Sign in as anyone with the development key: only while no production key set is configured."""
        return not self.jwt_jwks_url

    @property
    def oidc(self) -> bool:
        return bool(self.portal_oidc_issuer)
