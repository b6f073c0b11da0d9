"""Token checks with Tator, project roles, secrets, App access codes and cookies."""
