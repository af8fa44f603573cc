"""Events from other channels (forms, WeChat Work, ads) through POST /api/v1/events."""
