// Luxembourg code systems and value sets. Compiled JSON goes to ../terminology/ (see build.sh),
// where the terminology service loads it (bindings are checked against it).

CodeSystem: LuDspStatus
Id: dsp-status
Title: "DSP status"
Description: "Status of the patient's dossier de soins partagé (DSP, shared care record run by the Agence eSanté)."
* ^url = "https://fhir.mr.lu/CodeSystem/dsp-status"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #activated "Activated" "The DSP is open: professionals the patient allows may read and feed it (R1.2: needed for a médecin référent)."
* #not-activated "Not activated" "No DSP was opened, or the patient refused it."
* #closed "Closed" "The DSP was closed (at the patient's request, or after death)."

ValueSet: LuDspStatusVS
Id: dsp-status
Title: "DSP status"
Description: "All DSP status codes."
* ^url = "https://fhir.mr.lu/ValueSet/dsp-status"
* insert TerminologyMeta
* include codes from system $DSP

CodeSystem: LuCareTeamCategory
Id: careteam-category
Title: "Luxembourg care team categories"
Description: "Categories of CareTeam specific to Luxembourg."
* ^url = "https://fhir.mr.lu/CodeSystem/careteam-category"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #medecin-referent "Médecin référent" "The relationship between a patient and the médecin référent (MR) declared to the CNS."

ValueSet: LuCareTeamCategoryVS
Id: careteam-category
Title: "Luxembourg care team categories"
Description: "All Luxembourg care team categories."
* ^url = "https://fhir.mr.lu/ValueSet/careteam-category"
* insert TerminologyMeta
* include codes from system $CTCAT

CodeSystem: LuCareTeamRole
Id: careteam-role
Title: "Médecin référent care team roles"
Description: "Roles of the participants of a médecin référent CareTeam."
* ^url = "https://fhir.mr.lu/CodeSystem/careteam-role"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #medecin-referent "Médecin référent" "The doctor (general practice or paediatrics) declared as the patient's MR."
* #patient "Patient" "The patient (personne protégée)."
* #legal-representative "Legal representative" "Signs instead of a minor or of a person under guardianship."

ValueSet: LuCareTeamRoleVS
Id: careteam-role
Title: "Médecin référent care team roles"
Description: "All MR care team roles."
* ^url = "https://fhir.mr.lu/ValueSet/careteam-role"
* insert TerminologyMeta
* include codes from system $CTROLE

ValueSet: LuMrCareTeamStatusVS
Id: mr-careteam-status
Title: "MR care team status"
Description: "The CareTeam statuses an MR relationship uses: proposed (declaration signed, awaiting CNS validation), active, inactive (ended), entered-in-error. Not 'suspended': the scheme has no suspension."
* ^url = "https://fhir.mr.lu/ValueSet/mr-careteam-status"
* insert TerminologyMeta
* $CTSTATUS#proposed "Proposed"
* $CTSTATUS#active "Active"
* $CTSTATUS#inactive "Inactive"
* $CTSTATUS#entered-in-error "Entered In Error"

CodeSystem: LuMrEndReasonCS
Id: mr-end-reason
Title: "End reasons of a médecin référent relationship"
Description: "Why an MR relationship ended (RGD 15.11.2011; shared/domain R5, R6)."
* ^url = "https://fhir.mr.lu/CodeSystem/mr-end-reason"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #revoked-mutual "Revoked by mutual agreement" "Revocation signed by both patient and MR (the only way during the first twelve months)."
* #revoked-by-patient "Revoked by the patient" "Unilateral revocation by the patient (from the second year)."
* #revoked-by-doctor "Revoked by the doctor" "Unilateral revocation by the MR (from the second year)."
* #deceased-doctor "Death of the doctor" "The MR died."
* #deceased-patient "Death of the patient" "The patient died."
* #other "Other" "Any other end (e.g. the doctor stopped practising)."

ValueSet: LuMrEndReasonVS
Id: mr-end-reason
Title: "End reasons of a médecin référent relationship"
Description: "All MR end reasons."
* ^url = "https://fhir.mr.lu/ValueSet/mr-end-reason"
* insert TerminologyMeta
* include codes from system $ENDREASON

CodeSystem: LuMrRevocationInitiator
Id: mr-revocation-initiator
Title: "Initiator of an MR revocation"
Description: "Who signed the revocation form of an MR relationship."
* ^url = "https://fhir.mr.lu/CodeSystem/mr-revocation-initiator"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #patient "Patient" "The patient (or the legal representative) alone."
* #doctor "Doctor" "The MR alone."
* #mutual "Mutual agreement" "Both, on one form."

ValueSet: LuMrRevocationInitiatorVS
Id: mr-revocation-initiator
Title: "Initiator of an MR revocation"
Description: "All revocation initiators."
* ^url = "https://fhir.mr.lu/ValueSet/mr-revocation-initiator"
* insert TerminologyMeta
* include codes from system $INITIATOR

CodeSystem: LuInsuranceBranch
Id: insurance-branch
Title: "CNS insurance branches"
Description: "The insurance that paid a health service (résumé des prestations, shared/domain R9)."
* ^url = "https://fhir.mr.lu/CodeSystem/insurance-branch"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #sickness-maternity "Sickness-maternity insurance" "Assurance maladie-maternité."
* #accident "Accident insurance" "Assurance accident."
* #long-term-care "Long-term care insurance" "Assurance dépendance."

ValueSet: LuInsuranceBranchVS
Id: insurance-branch
Title: "CNS insurance branches"
Description: "All insurance branches."
* ^url = "https://fhir.mr.lu/ValueSet/insurance-branch"
* insert TerminologyMeta
* include codes from system $BRANCH

CodeSystem: LuDocumentType
Id: document-type
Title: "Luxembourg document types"
Description: "Document types without a LOINC code."
* ^url = "https://fhir.mr.lu/CodeSystem/document-type"
* insert TerminologyMeta
* ^caseSensitive = true
* ^content = #complete
* #resume-prestations "Résumé des prestations" "The CNS summary of the health services paid for a patient who has a médecin référent (R9)."

ValueSet: LuDocumentTypeVS
Id: document-type
Title: "Luxembourg document types"
Description: "All Luxembourg document types."
* ^url = "https://fhir.mr.lu/ValueSet/document-type"
* insert TerminologyMeta
* include codes from system $DOCTYPE

ValueSet: LuCnsNomenclatureVS
Id: cns-nomenclature
Title: "CNS nomenclature of doctors (codes)"
Description: "Every code of the CNS nomenclature code system this server has (a subset, see terminology/README.md)."
* ^url = "https://fhir.mr.lu/ValueSet/cns-nomenclature"
* insert TerminologyMeta
* include codes from system $NOMENCLATURE

ValueSet: LuPractitionerDisciplineVS
Id: practitioner-discipline
Title: "Disciplines of doctors"
Description: "Medical disciplines (SNOMED CT clinical specialties) for PractitionerRole.specialty. Only general practice and paediatrics qualify for the médecin référent role (R2). The list is not complete: the binding is extensible."
* ^url = "https://fhir.mr.lu/ValueSet/practitioner-discipline"
* insert TerminologyMeta
* $SCT#394814009 "General practice (specialty)"
* $SCT#394537008 "Pediatric specialty"
* $SCT#394579002 "Cardiology"
* $SCT#394591006 "Neurology"
* $SCT#394583002 "Endocrinology"
* $SCT#394589003 "Nephrology"
* $SCT#394584008 "Gastroenterology"
* $SCT#394582007 "Dermatology"
* $SCT#394587001 "Psychiatry"
* $SCT#394585009 "Obstetrics and gynecology"
* $SCT#394609007 "General surgery"
* $SCT#394802001 "General medicine"
* $SCT#394810000 "Rheumatology"
* $SCT#394594003 "Ophthalmology"
* $SCT#394612005 "Urology"
* $SCT#418112009 "Pulmonary medicine"

ValueSet: LuMrDisciplineVS
Id: mr-discipline
Title: "Disciplines allowed for a médecin référent"
Description: "General practice and paediatrics (R2)."
* ^url = "https://fhir.mr.lu/ValueSet/mr-discipline"
* insert TerminologyMeta
* $SCT#394814009 "General practice (specialty)"
* $SCT#394537008 "Pediatric specialty"
