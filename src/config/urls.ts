/**
 * URLs may carry credentials (`http://user:password@host`). Anything shown (errors, logs, CLI output) or used in an
 * id (visible to every reader of the namespace) takes the URL without them; only the request itself uses them.
 */
const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i;

/** The URL without its user info; text that carries none is returned as it is. */
export const withoutUserInfo = (url: string): string => url.replace(USER_INFO, '$1');

/** The user and password a URL carries (percent-decoded), if any. */
export function userInfoOf(url: string): { user: string; password: string } | undefined {
  if (!USER_INFO.test(url)) return undefined;
  const { username, password } = new URL(url);
  return { user: decodeURIComponent(username), password: decodeURIComponent(password) };
}
