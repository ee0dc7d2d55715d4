"""TOP (Taobao Open Platform) API: signed requests for the Jushita JMS sync-user APIs, and a local gateway."""
