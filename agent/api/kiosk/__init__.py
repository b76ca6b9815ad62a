"""The screens (kiosk, courier, counter, maintenance): HTML, CSS and JS the agent serves."""
