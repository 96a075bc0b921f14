DROP INDEX messages_created_brin;
