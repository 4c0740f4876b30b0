"""Observable UI state (session settings, the job queue, the document) as QObjects; no widgets."""
