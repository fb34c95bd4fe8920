"""Sign-in, sign-out, password change, TOTP, preferences and the idle timeout."""
