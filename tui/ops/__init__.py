"""`beffroi ops`: the console IT staff use during an incident."""
