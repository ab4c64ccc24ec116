Profile: LuPatient
Parent: Patient-uv-ips
Id: lu-patient
Title: "LU Patient"
Description: "A person protected by the Luxembourg health insurance: the matricule (national identification number, 13 digits) and the status of the DSP. Derived from the IPS Patient (hl7.fhir.uv.ips 2.0.0): name and birth date required, a name has a family name, a given name or a text (ips-pat-1). Addresses (of the patient, of a contact, the birth place) are HL7 Europe addresses (Address-eu, hl7.fhir.eu.base 2.0.0): street name, house number and post box as ADXP extensions of a line, the country code as a Coding."
* insert LuMeta
* obeys lu-pat-1
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier ^slicing.description = "The matricule by its system; other identifiers allowed"
* identifier contains matricule 1..1
* identifier[matricule] ^short = "Matricule (numéro d'identification national, 13 digits)"
* identifier[matricule].system 1..1
* identifier[matricule].system = "urn:oid:1.3.182.4.4" (exactly)
* identifier[matricule].value 1..1
* identifier[matricule].value obeys lu-mat-1
* extension contains LuDspStatusExtension named dspStatus 0..1 and $patient-birthPlace named birthPlace 0..1
* extension[birthPlace].valueAddress only $Address-eu
* address only $Address-eu
* contact.address only $Address-eu
* name 1..*
* birthDate 1..1

Invariant: lu-mat-1
Description: "The matricule has 13 digits (the two check digits, Luhn and Verhoeff over digits 1-11, are checked by the server's matricule hook: FHIRPath cannot compute them)"
Expression: "matches('^[0-9]{13}$')"
Severity: #error

Invariant: lu-pat-1
Description: "The matricule starts with the birth date (YYYYMMDD), unless the day or month is unknown (00)"
Expression: "identifier.where(system = 'urn:oid:1.3.182.4.4').value.all(substring(0, 8) = %resource.birthDate.toString().replace('-', '') or substring(4, 2) = '00' or substring(6, 2) = '00')"
Severity: #warning
