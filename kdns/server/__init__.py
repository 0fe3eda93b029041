"""The DNS server: wire format, listeners, the zone mux and the running application."""
