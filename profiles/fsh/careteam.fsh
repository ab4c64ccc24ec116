Profile: LuMrCareTeam
Parent: CareTeam
Id: lu-mr-careteam
Title: "LU MR CareTeam"
Description: "The médecin référent relationship: the patient, the MR, an optional legal representative, the declaration (signature date, CNS validation date, CNS declaration number), the period (effective date, last day inclusive), the status and the end reason. Derived from base R4 CareTeam."
* insert LuMeta
* obeys lu-ct-1 and lu-ct-2 and lu-ct-3 and lu-ct-4 and lu-ct-5 and lu-ct-6
* extension contains
    LuMrSignatureDate named signatureDate 0..1 and
    LuMrValidationDate named validationDate 0..1 and
    LuMrEndReason named endReason 0..1 and
    LuMrRevocation named revocation 0..1
* identifier 0..1
* identifier ^short = "MR declaration number, given by the CNS on validation (required once active)"
* identifier.system 1..1
* identifier.system = "https://fhir.mr.lu/sid/mr-declaration" (exactly)
* identifier.value 1..1
* status 1..1
* status from https://fhir.mr.lu/ValueSet/mr-careteam-status (required)
* category 1..*
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains medecinReferent 1..1
* category[medecinReferent] = https://fhir.mr.lu/CodeSystem/careteam-category#medecin-referent
* subject 1..1
* subject only Reference(LuPatient)
* period ^short = "start: effective date (first day of the month after CNS validation); end: last day (inclusive)"
* participant 1..*
* participant ^slicing.discriminator.type = #pattern
* participant ^slicing.discriminator.path = "role"
* participant ^slicing.rules = #open
* participant contains medecinReferent 1..1 and patient 0..1 and legalRepresentative 0..*
* participant[medecinReferent].role 1..*
* participant[medecinReferent].role = https://fhir.mr.lu/CodeSystem/careteam-role#medecin-referent
* participant[medecinReferent].member 1..1
* participant[medecinReferent].member only Reference(LuPractitionerRole or LuPractitioner)
* participant[patient].role 1..*
* participant[patient].role = https://fhir.mr.lu/CodeSystem/careteam-role#patient
* participant[patient].member 1..1
* participant[patient].member only Reference(LuPatient)
* participant[legalRepresentative].role 1..*
* participant[legalRepresentative].role = https://fhir.mr.lu/CodeSystem/careteam-role#legal-representative
* participant[legalRepresentative].member 1..1
* participant[legalRepresentative].member only Reference(RelatedPerson)

Invariant: lu-ct-1
Description: "An active MR relationship has its CNS declaration number"
Expression: "status = 'active' implies identifier.exists()"
Severity: #error

Invariant: lu-ct-2
Description: "An active or ended MR relationship has an effective date (period.start)"
Expression: "(status = 'active' or status = 'inactive') and identifier.exists() implies period.start.exists()"
Severity: #error

Invariant: lu-ct-3
Description: "An active MR relationship with a last day already set should give the end reason or the revocation (its end is announced)"
Expression: "status = 'active' and period.end.exists() implies extension('https://fhir.mr.lu/StructureDefinition/mr-end-reason').exists() or extension('https://fhir.mr.lu/StructureDefinition/mr-revocation').exists()"
Severity: #warning

Invariant: lu-ct-4
Description: "The effective date is the first day of a month (R4)"
Expression: "period.start.exists() implies period.start.toString().substring(8, 2) = '01'"
Severity: #warning

Invariant: lu-ct-5
Description: "A proposed relationship (declaration awaiting CNS validation) has neither declaration number nor period"
Expression: "status = 'proposed' implies (identifier.empty() and period.empty())"
Severity: #error

Invariant: lu-ct-6
Description: "The patient participant, if listed, is the subject"
Expression: "participant.where(role.coding.where(system = 'https://fhir.mr.lu/CodeSystem/careteam-role' and code = 'patient').exists()).member.reference.all($this = %resource.subject.reference)"
Severity: #error
