Profile: LuConsent
Parent: Consent
Id: lu-consent
Title: "LU Consent"
Description: "The patient's access choices on the DSP with opt-out semantics (R12), following IHE Privacy Consent on FHIR (PCF) patterns: the base provision permits access under the policy https://fhir.mr.lu/policy/dsp-opt-out; nested provisions deny given actors, documents (data), categories (class/code) or security labels, or permit named professionals; the policy https://fhir.mr.lu/policy/break-the-glass, when present, allows emergency access. Derived from base R4 Consent."
* insert LuMeta
* obeys lu-cons-0 and lu-cons-1 and lu-cons-2 and lu-cons-3
* scope = $CONSENTSCOPE#patient-privacy
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains patientConsent 1..1
* category[patientConsent] = $LNC#59284-0
* patient 1..1
* patient only Reference(LuPatient)
* dateTime 1..1
* policy 1..*
* policy ^slicing.discriminator.type = #value
* policy ^slicing.discriminator.path = "uri"
* policy ^slicing.rules = #open
* policy contains dspOptOut 1..1 and breakTheGlass 0..1
* policy[dspOptOut].uri 1..1
* policy[dspOptOut].uri = "https://fhir.mr.lu/policy/dsp-opt-out" (exactly)
* policy[breakTheGlass].uri 1..1
* policy[breakTheGlass].uri = "https://fhir.mr.lu/policy/break-the-glass" (exactly)
* provision 1..1
* provision.type 1..1
* provision ^short = "Base provision: permit (opt-out); nested provisions are the patient's exceptions"

Invariant: lu-cons-0
Description: "Opt-out: the base provision permits (the nested provisions are the exceptions)"
Expression: "provision.type = 'permit'"
Severity: #error

Invariant: lu-cons-1
Description: "Each nested provision says whether it denies or permits"
Expression: "provision.provision.all(type.exists())"
Severity: #error

Invariant: lu-cons-2
Description: "A nested deny names what it hides or from whom: actor, data, class, code or securityLabel"
Expression: "provision.provision.where(type = 'deny').all(actor.exists() or data.exists() or class.exists() or code.exists() or securityLabel.exists())"
Severity: #error

Invariant: lu-cons-3
Description: "A nested permit names the professionals it allows (actor)"
Expression: "provision.provision.where(type = 'permit').all(actor.exists())"
Severity: #error
