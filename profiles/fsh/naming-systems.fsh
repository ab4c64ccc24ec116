Instance: lu-matricule
InstanceOf: NamingSystem
Usage: #definition
Title: "Luxembourg national identification number (matricule)"
* name = "LuMatricule"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "fhir-server-lu-mr contributors"
* jurisdiction = urn:iso:std:iso:3166#LU "Luxembourg"
* description = "13 digits: birth date YYYYMMDD, serial (3), Luhn check digit then Verhoeff check digit, both over digits 1-11. The OID is the one seen in use for the matricule (see profiles/README.md); no official registration was found."
* uniqueId[0].type = #uri
* uniqueId[0].value = "urn:oid:1.3.182.4.4"
* uniqueId[0].preferred = true
* uniqueId[1].type = #oid
* uniqueId[1].value = "1.3.182.4.4"
* uniqueId[1].preferred = false

Instance: lu-cns-provider-code
InstanceOf: NamingSystem
Usage: #definition
Title: "CNS provider code (code prestataire)"
* name = "LuCnsProviderCode"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "fhir-server-lu-mr contributors"
* jurisdiction = urn:iso:std:iso:3166#LU "Luxembourg"
* description = "Code given by the Caisse nationale de santé to a health professional or provider (8 digits)."
* uniqueId[0].type = #uri
* uniqueId[0].value = "https://fhir.mr.lu/sid/cns-provider-code"
* uniqueId[0].preferred = true

Instance: lu-cns-group-practice-code
InstanceOf: NamingSystem
Usage: #definition
Title: "CNS group practice code (association libérale)"
* name = "LuCnsGroupPracticeCode"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "fhir-server-lu-mr contributors"
* jurisdiction = urn:iso:std:iso:3166#LU "Luxembourg"
* description = "Common provider code of an association libérale: doctors of the same specialty billing under one code (8 digits)."
* uniqueId[0].type = #uri
* uniqueId[0].value = "https://fhir.mr.lu/sid/cns-group-practice-code"
* uniqueId[0].preferred = true

Instance: lu-mr-declaration
InstanceOf: NamingSystem
Usage: #definition
Title: "Médecin référent declaration number"
* name = "LuMrDeclaration"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "fhir-server-lu-mr contributors"
* jurisdiction = urn:iso:std:iso:3166#LU "Luxembourg"
* description = "Unique number the CNS gives an MR declaration when it validates it (R3)."
* uniqueId[0].type = #uri
* uniqueId[0].value = "https://fhir.mr.lu/sid/mr-declaration"
* uniqueId[0].preferred = true

Instance: lu-organization
InstanceOf: NamingSystem
Usage: #definition
Title: "Luxembourg organization identifier (project)"
* name = "LuOrganization"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "fhir-server-lu-mr contributors"
* jurisdiction = urn:iso:std:iso:3166#LU "Luxembourg"
* description = "Identifiers of organizations (CNS, Agence eSanté, practices) assigned by this project."
* uniqueId[0].type = #uri
* uniqueId[0].value = "https://fhir.mr.lu/sid/organization"
* uniqueId[0].preferred = true
