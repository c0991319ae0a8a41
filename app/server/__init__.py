"""The Prefect server manymodels talks to, by concern (none imports Prefect, so the commands that only start or stop
the server stay quick): `auth` where the local server is and its auth string, `api` a small client of its REST
API, `background` the processes a command leaves running, `lifecycle` starting, reusing and stopping the local
server, `deployments` the deployments of deployments/prefect.yaml and their worker."""
