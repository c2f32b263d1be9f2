"""project: the diary as read from the repository, once per command: settings, snapshots, records, pages."""
