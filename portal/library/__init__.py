"""The document library: templates, versions, storage, permissions, rendering."""
