Profile: LuResumePatient
Parent: Composition-uv-ips
Id: lu-resume-patient
Title: "LU Résumé Patient"
Description: "The résumé patient (patient summary) written by the médecin référent (R8): an International Patient Summary Composition (hl7.fhir.uv.ips 2.0.0: type LOINC 60591-5; the problems 11450-4, allergies 48765-2 and medications 10160-0 sections, each with a title, a narrative and entries or an empty reason, ips-comp-1) about an LU Patient, authored by the MR."
* insert LuMeta
* subject only Reference(LuPatient)
* author only Reference(LuPractitioner or LuPractitionerRole)
* author ^short = "The médecin référent"

Profile: LuResumePatientBundle
Parent: Bundle-uv-ips
Id: lu-resume-patient-bundle
Title: "LU Résumé Patient document Bundle"
Description: "The résumé patient as a FHIR document: an International Patient Summary Bundle (hl7.fhir.uv.ips 2.0.0) whose first entry is an LU Résumé Patient Composition, with the LU Patient it is about."
* insert LuMeta
* obeys lu-rpb-1
* entry.resource 1..1
* entry[composition].resource only LuResumePatient
* entry[patient].resource only LuPatient

Invariant: lu-rpb-1
Description: "The Composition's subject is the Patient entry of the Bundle"
Expression: "entry.first().resource.subject.reference.all($this in %resource.entry.where(resource.is(Patient)).fullUrl or $this in %resource.entry.where(resource.is(Patient)).select('Patient/' + resource.id))"
Severity: #error
