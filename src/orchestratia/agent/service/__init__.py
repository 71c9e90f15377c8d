"""Installing the daemon as an OS service (systemd on Linux, launchd on macOS)."""
