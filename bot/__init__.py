"""The Telegram bot: photo in, album and price out, corrections by button or reply."""
