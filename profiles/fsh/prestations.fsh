Profile: LuPrestationClaim
Parent: Claim
Id: lu-prestation-claim
Title: "LU Prestation Claim"
Description: "A health service paid by the CNS (résumé des prestations, R9): the CNS nomenclature code, the date, the provider, the insurance branch. Derived from base R4 Claim."
* insert LuMeta
* extension contains LuInsuranceBranchExtension named insuranceBranch 1..1
* provider only Reference(LuPractitioner or LuPractitionerRole or Organization)
* item 1..*
* item.productOrService from https://fhir.mr.lu/ValueSet/cns-nomenclature (required)
* item.productOrService ^short = "CNS nomenclature code (e.g. C1, MR03)"
* item.serviced[x] 1..1
* item.serviced[x] only date
* item.serviced[x] ^short = "Day the service was given"

Profile: LuResumePrestations
Parent: Composition
Id: lu-resume-prestations
Title: "LU Résumé des Prestations"
Description: "The résumé des prestations written by the CNS (R9): one section per insurance branch, whose entries are the paid services (LU Prestation Claims), and the period covered (event.period). Derived from base R4 Composition."
* insert LuMeta
* obeys lu-rdp-1
* status 1..1
* type = https://fhir.mr.lu/CodeSystem/document-type#resume-prestations
* subject 1..1
* subject only Reference(LuPatient)
* date 1..1
* author 1..*
* author only Reference(Organization)
* author ^short = "The CNS"
* event 1..1
* event.period 1..1
* event.period ^short = "The period covered: the three years before the effective date for the first résumé, then the year just ended"
* section 1..*
* section.code 1..1
* section.code from https://fhir.mr.lu/ValueSet/insurance-branch (required)
* section.code ^short = "Insurance branch: sickness-maternity, accident, long-term-care"
* section.text 1..1
* section.entry only Reference(LuPrestationClaim)

Invariant: lu-rdp-1
Description: "The period covered has a start and an end"
Expression: "event.period.all(start.exists() and end.exists())"
Severity: #error
