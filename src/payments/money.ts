/**
 * Money: integer amounts in a currency's minor units, ISO 4217 currencies. Arithmetic stays in
 * integers and refuses anything that would leave the exactly-representable range.
 */

const TWO_DECIMALS = `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN
  BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
  GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR
  LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB
  PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
  THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD YER ZAR ZMW ZWG`;
const ZERO_DECIMALS = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF';
const THREE_DECIMALS = 'BHD IQD JOD KWD LYD OMR TND';
const FOUR_DECIMALS = 'CLF UYW';

const exponents = new Map<string, number>();
for (const [list, exp] of [[ZERO_DECIMALS, 0], [TWO_DECIMALS, 2], [THREE_DECIMALS, 3], [FOUR_DECIMALS, 4]] as const) {
  for (const code of list.split(/\s+/).filter(Boolean)) exponents.set(code, exp);
}

/** Every ISO 4217 currency Idem accepts, upper-case. */
export const currencies: readonly string[] = [...exponents.keys()].sort();

export function isCurrency(code: string): boolean {
  return exponents.has(code);
}

/** Digits after the decimal point in the currency's major unit (JPY 0, USD 2, KWD 3). */
export function minorUnitExponent(currency: string): number {
  const e = exponents.get(currency);
  if (e === undefined) throw new RangeError(`unknown currency ${currency}`);
  return e;
}

/** The largest amount accepted in one payment, in minor units (11 digits). */
export const MAX_AMOUNT = 99_999_999_999;

export function isAmount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= MAX_AMOUNT;
}

/** Sums integer minor-unit amounts; throws rather than lose precision. */
export function sumAmounts(amounts: readonly number[]): number {
  let total = 0;
  for (const a of amounts) {
    if (!Number.isSafeInteger(a)) throw new RangeError(`amount ${a} is not a safe integer`);
    total += a;
    if (!Number.isSafeInteger(total)) throw new RangeError('sum leaves the safe integer range');
  }
  return total;
}
