"""Operation Encompass: next-school-day notifications from police incidents to each child's key adult."""
