"""Smart-card login over PC/SC (pyscard): the PIV applet client, trust checks,
the card monitor, and the virtual PIV card used in development and CI."""
