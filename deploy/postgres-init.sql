-- One database per service: no service reads another's tables.
CREATE DATABASE p06_gateway;
CREATE DATABASE p06_localities;
CREATE DATABASE p06_tasks;
CREATE DATABASE p06_notifications;
