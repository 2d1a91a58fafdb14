/** The ci-fixer service's port and the image its sandboxes run unless a request names another. */
export const DEFAULT_PORT = 3001;
export const DEFAULT_SANDBOX_IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';
