"""Citizens' applications: the form, their storage, staff changes and the CSV export."""
