"""Use cases, each written once, that the bot, the dashboard and the command line call."""
