"""The médecin référent rules (../shared/domain/medecin-referent-rules.md): plain Python."""
