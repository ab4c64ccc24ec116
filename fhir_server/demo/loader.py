"""Load the demo data set: one transaction Bundle of PUTs, so loading twice changes nothing."""

from __future__ import annotations

from importlib import resources

import orjson

from fhir_server.api.messages import FhirRequest
from fhir_server.api.transactions import BundleProcessor

DEMO_FILE = "luxembourg-demo.json"


def demo_bundle() -> dict:
    return orjson.loads(resources.files("fhir_server.demo").joinpath(DEMO_FILE).read_bytes())


async def load_demo(processor: BundleProcessor) -> int:
    """Run the demo transaction unless its first resource is already stored; entries written."""
    bundle = demo_bundle()
    first = bundle["entry"][0]["request"]["url"]
    rtype, rid = first.split("/")
    if await processor.repository.store.read(rtype, rid) is not None:
        return 0
    response = await processor(FhirRequest("POST", [], body=bundle))
    return len(response.resource["entry"])  # type: ignore[index]
