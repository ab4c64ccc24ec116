"""Profile validation driven by StructureDefinitions (https://hl7.org/fhir/R4/profiling.html).

- :mod:`.definitions`  loads the base R4 definitions (compact JSON) and profile folders;
- :mod:`.elements`     turns a StructureDefinition (snapshot, or differential over its base)
                       into a tree of :class:`ElementNode`, built once per profile;
- :mod:`.invariants`   FHIRPath invariants, compiled once with fhirpathpy;
- :mod:`.bindings`     ValueSet membership for required and extensible bindings;
- :mod:`.slicing`      slice discriminators (value, pattern, type, profile, exists);
- :mod:`.primitives`   JSON shape and regex of the primitive types;
- :mod:`.validator`    :class:`ProfileValidator`, the walk that reports :class:`Issue`s.
"""

from fhir_server.fhir.profiles.definitions import Definitions
from fhir_server.fhir.profiles.validator import ProfileValidator

__all__ = ["Definitions", "ProfileValidator"]
