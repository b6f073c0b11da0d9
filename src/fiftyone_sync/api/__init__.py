"""The HTTP API: applet pages, launch, embedding proxy, jobs, health."""
