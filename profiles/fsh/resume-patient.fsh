Profile: LuResumePatient
Parent: Composition
Id: lu-resume-patient
Title: "LU Résumé Patient"
Description: "The résumé patient (patient summary) written by the médecin référent (R8): a document Composition of type LOINC 60591-5 with the three sections the International Patient Summary requires (problems 11450-4, allergies 48765-2, medications 10160-0), each with its narrative. Modelled on the IPS Composition (hl7.fhir.uv.ips 2.0.0) but derived from base R4 Composition: the IPS package's dependencies cannot be resolved here (see profiles/README.md)."
* insert LuMeta
* status 1..1
* type = $LNC#60591-5
* subject 1..1
* subject only Reference(LuPatient)
* date 1..1
* author 1..*
* author only Reference(LuPractitioner or LuPractitionerRole)
* author ^short = "The médecin référent"
* title 1..1
* section 3..*
* section ^slicing.discriminator.type = #pattern
* section ^slicing.discriminator.path = "code"
* section ^slicing.rules = #open
* section ^slicing.ordered = false
* section contains sectionProblems 1..1 and sectionAllergies 1..1 and sectionMedications 1..1
* section[sectionProblems].title 1..1
* section[sectionProblems].code 1..1
* section[sectionProblems].code = $LNC#11450-4
* section[sectionProblems].text 1..1
* section[sectionProblems].entry only Reference(Condition)
* section[sectionAllergies].title 1..1
* section[sectionAllergies].code 1..1
* section[sectionAllergies].code = $LNC#48765-2
* section[sectionAllergies].text 1..1
* section[sectionAllergies].entry only Reference(AllergyIntolerance)
* section[sectionMedications].title 1..1
* section[sectionMedications].code 1..1
* section[sectionMedications].code = $LNC#10160-0
* section[sectionMedications].text 1..1
* section[sectionMedications].entry only Reference(MedicationStatement or MedicationRequest)
* section.code 1..1

Profile: LuResumePatientBundle
Parent: Bundle
Id: lu-resume-patient-bundle
Title: "LU Résumé Patient document Bundle"
Description: "The résumé patient as a FHIR document: a Bundle of type document whose first entry is an LU Résumé Patient Composition, with the LU Patient it is about. Modelled on the IPS Bundle."
* insert LuMeta
* obeys lu-rpb-1
* identifier 1..1
* type = #document
* timestamp 1..1
* entry 2..*
* entry.fullUrl 1..1
* entry.resource 1..1
* entry ^slicing.discriminator.type = #type
* entry ^slicing.discriminator.path = "resource"
* entry ^slicing.rules = #open
* entry contains composition 1..1 and patient 1..1
* entry[composition].resource only LuResumePatient
* entry[patient].resource only LuPatient

Invariant: lu-rpb-1
Description: "The Composition's subject is the Patient entry of the Bundle"
Expression: "entry.first().resource.subject.reference.all($this in %resource.entry.where(resource.is(Patient)).fullUrl or $this in %resource.entry.where(resource.is(Patient)).select('Patient/' + resource.id))"
Severity: #error
