Alias: $LNC = http://loinc.org
Alias: $SCT = http://snomed.info/sct
Alias: $MATRICULE = urn:oid:1.3.182.4.4
Alias: $PROVIDER = https://fhir.mr.lu/sid/cns-provider-code
Alias: $GROUP = https://fhir.mr.lu/sid/cns-group-practice-code
Alias: $DECLARATION = https://fhir.mr.lu/sid/mr-declaration
Alias: $ORGID = https://fhir.mr.lu/sid/organization
Alias: $CTCAT = https://fhir.mr.lu/CodeSystem/careteam-category
Alias: $CTROLE = https://fhir.mr.lu/CodeSystem/careteam-role
Alias: $CTSTATUS = http://hl7.org/fhir/care-team-status
Alias: $DSP = https://fhir.mr.lu/CodeSystem/dsp-status
Alias: $ENDREASON = https://fhir.mr.lu/CodeSystem/mr-end-reason
Alias: $INITIATOR = https://fhir.mr.lu/CodeSystem/mr-revocation-initiator
Alias: $BRANCH = https://fhir.mr.lu/CodeSystem/insurance-branch
Alias: $DOCTYPE = https://fhir.mr.lu/CodeSystem/document-type
Alias: $NOMENCLATURE = https://fhir.mr.lu/CodeSystem/cns-nomenclature
Alias: $ACTCODE = http://terminology.hl7.org/CodeSystem/v3-ActCode
Alias: $CONSENTSCOPE = http://terminology.hl7.org/CodeSystem/consentscope

RuleSet: LuMeta
* ^publisher = "fhir-server-lu-mr contributors"
* ^copyright = "Apache-2.0 (fhir-server-lu-mr contributors)"
* ^experimental = false

RuleSet: TerminologyMeta
* ^status = #active
* ^version = "0.1.0"
* ^publisher = "fhir-server-lu-mr contributors"
* ^copyright = "Apache-2.0 (fhir-server-lu-mr contributors); SNOMED CT and LOINC codes are used under their own licences"
* ^experimental = false
// HL7 Europe base (hl7.fhir.eu.base 2.0.0, compiled into ../eu-base/ by eu_base_package.py)
Alias: $Address-eu = http://hl7.eu/fhir/base/StructureDefinition/Address-eu
Alias: $patient-birthPlace = http://hl7.org/fhir/StructureDefinition/patient-birthPlace
