"""Wire the server together: store → repository → interactions → HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from fhir_server import __version__
from fhir_server.api.admin_operations import register_admin_operations
from fhir_server.api.bulk_data import register_bulk_data
from fhir_server.api.capability import CapabilityStatementBuilder
from fhir_server.api.everything import register_everything
from fhir_server.api.health import healthz, readiness
from fhir_server.api.http import HttpAdapter
from fhir_server.api.interactions import Interactions
from fhir_server.api.limits import LimitsMiddleware
from fhir_server.api.metrics import Metrics, MetricsMiddleware
from fhir_server.api.mr.register import register_mr
from fhir_server.api.mr.status_keeper import keep_statuses
from fhir_server.api.openapi import OpenApiDocs
from fhir_server.api.operations import OperationRegistry
from fhir_server.api.request_log import RequestLogMiddleware
from fhir_server.api.terminology_operations import register_terminology_operations
from fhir_server.api.transactions import BundleProcessor
from fhir_server.api.validate_operation import register_validate_operation
from fhir_server.background import cancel_and_wait
from fhir_server.config import Settings
from fhir_server.demo.loader import load_demo
from fhir_server.fhir.custom_search_parameters import CustomSearchParameters, follow_other_workers
from fhir_server.fhir.indexing import IndexExtractor
from fhir_server.fhir.profile_enforcement import ProfileEnforcement
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.publish import publish_resources, read_folder
from fhir_server.fhir.reindex import Reindexer
from fhir_server.fhir.repository import Repository
from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.fhir.search.parser import SearchLimits, SearchParser
from fhir_server.fhir.search_parameters import SearchParameterRegistry
from fhir_server.log_format import configure_logging
from fhir_server.security.audit import AuditTrail
from fhir_server.security.auth_routes import auth_routes
from fhir_server.security.compartment import CompartmentReader
from fhir_server.security.gate import AccessGate
from fhir_server.security.relationships import CareRelations
from fhir_server.security.smart_configuration import capability_security
from fhir_server.security.tokens import TokenVerifier
from fhir_server.security.write_guard import AccessWriteGuard, AccessWriteRecorder
from fhir_server.store.factory import open_store
from fhir_server.terminology import TerminologyService
from fhir_server.terminology.publish import publish

log = logging.getLogger("fhir_server")


def supported_profiles(validator: ProfileValidator, types: tuple[str, ...]) -> dict[str, list[str]]:
    """Resource type → URLs of the resource profiles loaded from the profiles folder."""
    out: dict[str, list[str]] = {}
    for url in validator.definitions.profiles:
        sd = validator.definitions.by_url(url)
        if sd is not None and sd.get("kind") == "resource" and sd["type"] in types:
            out.setdefault(sd["type"], []).append(url)
    return out


def access_gate(
    settings: Settings, repository: Repository, registry: SearchParameterRegistry, tz: ZoneInfo
) -> AccessGate:
    """Tokens, the care relations and consents they are checked against, and the audit trail."""
    return AccessGate(
        TokenVerifier.from_settings(settings),
        CareRelations(repository, tz),
        CompartmentReader(registry),
        frozenset(settings.auth_cns_clients),
        AuditTrail(repository, settings.public_base(), batch_size=500, flush_interval=0.2),
    )


def create_app(settings: Settings) -> FastAPI:
    base_url = settings.public_base()
    tz = ZoneInfo(settings.local_timezone)
    registry = SearchParameterRegistry.load_default()
    store = open_store(settings)
    terminology = TerminologyService.load(settings.terminology_dir)
    parser = SearchParser(
        registry,
        tz,
        base_url,
        settings.default_page_size,
        settings.max_page_size,
        SearchLimits(settings.max_search_values, settings.max_chain_depth, settings.max_included),
        supported_types=frozenset(SUPPORTED_TYPES),
        expand_valueset=lambda url: frozenset(terminology.members(url)),
    )
    extractor = IndexExtractor(registry, tz)
    repository = Repository(store, extractor, parser)
    reindexer = Reindexer(store, extractor)
    custom_search_parameters = CustomSearchParameters(registry, reindexer, SUPPORTED_TYPES)
    repository.hooks.append(custom_search_parameters)
    operations = OperationRegistry()
    register_terminology_operations(operations, terminology)
    register_admin_operations(operations, reindexer, SUPPORTED_TYPES)
    validator = ProfileValidator.load(settings.profiles_dir, terminology)
    register_validate_operation(operations, validator, repository, SUPPORTED_TYPES)
    register_everything(operations, repository, base_url, settings.max_page_size)
    bulk_data = register_bulk_data(operations, repository, settings)
    mr_facts, mr_operation_definitions = register_mr(operations, repository, terminology, tz, settings.mr_rules())
    repository.hooks.append(ProfileEnforcement(validator))
    capability = CapabilityStatementBuilder(
        base_url,
        SUPPORTED_TYPES,
        registry,
        operations,
        supported_profiles(validator, SUPPORTED_TYPES),
        capability_security(settings) if settings.auth else None,
    )
    interactions = Interactions(
        repository, base_url, frozenset(SUPPORTED_TYPES), capability, settings.max_page_size, operations
    )
    processor = BundleProcessor(repository, interactions.handle, base_url, settings.max_bundle_entries)
    interactions.bundle_handler = processor
    gate = access_gate(settings, repository, registry, tz) if settings.auth else None
    if gate is not None:
        repository.guards.insert(0, AccessWriteGuard())
        repository.hooks.append(AccessWriteRecorder())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded_us = time.time_ns() // 1000
        await custom_search_parameters.load(store)
        await publish_resources(repository, read_folder(settings.profiles_dir / "search-parameters"))
        await publish_resources(
            repository,
            read_folder(settings.profiles_dir / "structure-definitions")
            + read_folder(settings.profiles_dir / "naming-systems"),
        )
        await publish_resources(repository, mr_operation_definitions)
        await publish(repository, terminology)
        if settings.demo:
            loaded = await load_demo(processor)
            log.info("demo data: %s", f"{loaded} resources loaded" if loaded else "already present")
        status_keeper = asyncio.get_running_loop().create_task(keep_statuses(mr_facts))
        if gate is not None:
            await gate.trail.start()
        follower = None
        if settings.workers > 1:
            following = follow_other_workers(custom_search_parameters, store, loaded_us)
            follower = asyncio.get_running_loop().create_task(following)
        yield
        # uvicorn has let the requests in flight finish; background writers stop before the
        # audit trail is flushed, and both before the store closes
        await cancel_and_wait([status_keeper, *([follower] if follower is not None else [])])
        await reindexer.cancel()
        await bulk_data.stop()
        if gate is not None:
            await gate.trail.close()
        await store.close()

    app = FastAPI(
        title="FHIR R4 server (Luxembourg médecin référent)",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.repository = repository
    app.state.operations = operations
    app.state.reindexer = reindexer
    app.state.terminology = terminology
    app.state.validator = validator
    metrics = Metrics(frozenset(SUPPORTED_TYPES))
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readiness(store), methods=["GET"], include_in_schema=False)
    docs = OpenApiDocs(capability, operations)  # a self-contained page: no assets from a CDN
    app.add_api_route("/openapi.json", docs.document, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs.page, methods=["GET"], include_in_schema=False)
    app.state.access_gate = gate
    for route in auth_routes(settings) if settings.auth else []:
        app.router.routes.append(route)
    app.router.routes.extend(bulk_data.routes(gate))  # job URLs: NDJSON, outside the FHIR catch-all
    # every other path is FHIR: the router's default app (a mount would not match a path holding a
    # newline), without FastAPI's per-route machinery
    app.router.default = HttpAdapter(interactions, base_url, settings.max_body_bytes, gate).asgi
    limits = {"max_concurrent": settings.max_concurrent_requests, "timeout_seconds": settings.request_timeout_seconds}
    app.add_middleware(LimitsMiddleware, **limits)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.log_requests:
        app.add_middleware(RequestLogMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process: settings from FHIR_SERVER_* (``fhir-server serve --workers``)."""
    configure_logging()
    return create_app(Settings())
