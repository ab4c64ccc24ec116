Extension: LuDspStatusExtension
Id: dsp-status
Title: "DSP status"
Description: "Status of the patient's DSP (dossier de soins partagé). An activated DSP is one condition to have a médecin référent (R1.2)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "Patient"
* value[x] 1..1
* value[x] only code
* valueCode from https://fhir.mr.lu/ValueSet/dsp-status (required)

Extension: LuMrSignatureDate
Id: mr-signature-date
Title: "MR declaration signature date"
Description: "The day the MR declaration was signed jointly by the patient (or legal representative) and the doctor (R3)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "CareTeam"
* value[x] 1..1
* value[x] only date

Extension: LuMrValidationDate
Id: mr-validation-date
Title: "MR declaration CNS validation date"
Description: "The day the CNS validated the MR declaration; the relationship takes effect on the first day of the following month (R4)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "CareTeam"
* value[x] 1..1
* value[x] only date

Extension: LuMrEndReason
Id: mr-end-reason
Title: "MR relationship end reason"
Description: "Why the MR relationship ended (R5, R6)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "CareTeam"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir.mr.lu/ValueSet/mr-end-reason (required)

Extension: LuMrRevocation
Id: mr-revocation
Title: "MR revocation"
Description: "The revocation form of an MR relationship: who signed it, when, and when the CNS received it. The notice (two months) runs from the signature date (R6)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "CareTeam"
* extension contains
    initiator 1..1 and
    signatureDate 1..1 and
    receivedDate 0..1
* extension[initiator].value[x] 1..1
* extension[initiator].value[x] only code
* extension[initiator].valueCode from https://fhir.mr.lu/ValueSet/mr-revocation-initiator (required)
* extension[signatureDate].value[x] 1..1
* extension[signatureDate].value[x] only date
* extension[receivedDate].value[x] 1..1
* extension[receivedDate].value[x] only date
* value[x] 0..0

Extension: LuInsuranceBranchExtension
Id: insurance-branch
Title: "CNS insurance branch"
Description: "The insurance that pays the service: sickness-maternity, accident or long-term care (R9)."
* insert LuMeta
* ^context.type = #element
* ^context.expression = "Claim"
* value[x] 1..1
* value[x] only code
* valueCode from https://fhir.mr.lu/ValueSet/insurance-branch (required)
