"""What the client and the emulator share: status names, redaction, output-channel rules."""
