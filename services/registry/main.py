"""The registry service's app: `uvicorn services.registry.main:app`."""

from services.registry import api, api_certificates, consumers, jobs
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="registry",
    title="GMP hub registry",
    description="GMP facilities, suites and capabilities, manufacturing authorisations and GMP certificates.",
    routers=[api.router, api_certificates.router],
    consumes=consumers.follows,
    jobs=[jobs.certificate_expiry_job],
    openapi_tags=[
        {"name": "vocabularies", "description": "Controlled vocabularies: every term the API accepts."},
        {"name": "facilities", "description": "Onboarding, profile, search and history of GMP facilities."},
        {"name": "suites", "description": "Manufacturing rooms and lines with their capabilities."},
        {"name": "certificates", "description": "GMP certificates and their lifecycle; non-compliance statements."},
    ],
)
app = create_app(spec)
