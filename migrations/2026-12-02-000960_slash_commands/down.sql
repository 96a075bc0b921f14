DROP TABLE command_invocations;
DROP TABLE bot_commands;
