"""Follow-up tasks: the task rules, a rep's inbox, the clock's rules (`flask tick`)."""
