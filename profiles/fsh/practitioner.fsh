Profile: LuPractitioner
Parent: Practitioner-uv-ips
Id: lu-practitioner
Title: "LU Practitioner"
Description: "A doctor practising in Luxembourg, identified by the CNS provider code (code prestataire). Derived from the IPS Practitioner (hl7.fhir.uv.ips 2.0.0); addresses are HL7 Europe addresses (Address-eu, hl7.fhir.eu.base 2.0.0)."
* insert LuMeta
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains cnsProviderCode 1..1 and groupPracticeCode 0..*
* identifier[cnsProviderCode] ^short = "CNS provider code (code prestataire) of the doctor"
* identifier[cnsProviderCode].system 1..1
* identifier[cnsProviderCode].system = "https://fhir.mr.lu/sid/cns-provider-code" (exactly)
* identifier[cnsProviderCode].value 1..1
* identifier[cnsProviderCode].value obeys lu-prov-1
* identifier[groupPracticeCode] ^short = "Code of a group practice (association libérale) the doctor belongs to"
* identifier[groupPracticeCode].system 1..1
* identifier[groupPracticeCode].system = "https://fhir.mr.lu/sid/cns-group-practice-code" (exactly)
* identifier[groupPracticeCode].value 1..1
* identifier[groupPracticeCode].value obeys lu-prov-1
* name 1..*
* address only $Address-eu

Invariant: lu-prov-1
Description: "A CNS provider or group practice code has 8 digits"
Expression: "matches('^[0-9]{8}$')"
Severity: #error

Profile: LuPractitionerRole
Parent: PractitionerRole-uv-ips
Id: lu-practitionerrole
Title: "LU PractitionerRole"
Description: "A doctor's practice in Luxembourg: discipline (general practice, paediatrics, other specialties), CNS provider code, group practice (association libérale) code. Derived from the IPS PractitionerRole (hl7.fhir.uv.ips 2.0.0)."
* insert LuMeta
* practitioner 1..1
* practitioner only Reference(LuPractitioner)
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains cnsProviderCode 0..1 and groupPracticeCode 0..1
* identifier[cnsProviderCode] ^short = "CNS provider code under which this role bills"
* identifier[cnsProviderCode].system 1..1
* identifier[cnsProviderCode].system = "https://fhir.mr.lu/sid/cns-provider-code" (exactly)
* identifier[cnsProviderCode].value 1..1
* identifier[cnsProviderCode].value obeys lu-prov-1
* identifier[groupPracticeCode] ^short = "Common provider code of the group practice (association libérale: doctors of the same specialty) (R13)"
* identifier[groupPracticeCode].system 1..1
* identifier[groupPracticeCode].system = "https://fhir.mr.lu/sid/cns-group-practice-code" (exactly)
* identifier[groupPracticeCode].value 1..1
* identifier[groupPracticeCode].value obeys lu-prov-1
* specialty 1..*
* specialty from https://fhir.mr.lu/ValueSet/practitioner-discipline (extensible)
* specialty ^short = "Discipline: SNOMED CT 394814009 general practice, 394537008 paediatrics, other specialties"
