import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
const t = Date.now();
generateKeyPairSync('rsa', { modulusLength: 2048 });
console.log('ok', Date.now() - t);
