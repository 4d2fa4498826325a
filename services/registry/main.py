"""The registry service's app: `uvicorn services.registry.main:app`."""

from services.registry import api_certificates, api_facilities, api_public, consumers, jobs
from services.registry.repository import RegistryUnitOfWork
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="registry",
    title="GMP hub registry",
    description="GMP facilities, suites and capabilities, manufacturing authorisations and GMP certificates.",
    routers=[api_facilities.router, api_certificates.router, api_public.router],
    consumes=consumers.follows,
    jobs=[jobs.certificate_expiry_job],
    unit_of_work=RegistryUnitOfWork,
    openapi_tags=[
        {"name": "vocabularies", "description": "Controlled vocabularies: every term the API accepts."},
        {"name": "facilities", "description": "Onboarding, profile, search and history of GMP facilities."},
        {"name": "suites", "description": "Manufacturing rooms and lines with their capabilities."},
        {"name": "certificates", "description": "GMP certificates and their lifecycle; non-compliance statements."},
        {"name": "public", "description": "The public directory, read without a token: certified facilities."},
    ],
)
app = create_app(spec)
