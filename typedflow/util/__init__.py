"""Small shared helpers with no knowledge of workflows: boundary checks, JSON output, memo, time."""
