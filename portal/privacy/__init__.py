"""Privacy: what a customer is told, and a person's data exported, erased and expired."""
